"""The models layer: resolving a builder call, legacy rules, building, the registry API,
family namespaces and prefetching. Depends on the weights layer and below.
"""
