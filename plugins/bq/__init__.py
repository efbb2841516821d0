"""BQ-NCO: bisimulation-quotiented constructive MDPs with a transformer policy trained by imitation.

Drakulic et al., "BQ-NCO: Bisimulation Quotienting for Efficient Neural Combinatorial
Optimization", NeurIPS 2023, https://arxiv.org/abs/2301.03313.
"""
