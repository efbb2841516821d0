"""Random re-construction (RRC): improve a solution by re-building parts of it with the policy.

Luo et al., "Neural Combinatorial Optimization with Heavy Decoder: Toward Large Scale
Generalization" (LEHD), NeurIPS 2023, https://arxiv.org/abs/2310.07985. Any part of a solution
whose remaining sub-problem is a reduced state of the policy's MDP (BQ-NCO's path-TSP between two
fixed ends; a CVRP tail) is re-decoded greedily and kept where it is shorter.
"""
