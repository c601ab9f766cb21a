"""The downloads layer: certificate policies, hashes, fetching a file into the torch hub
cache, and the one loader of a cached weights file. Depends on the base and the catalog only.

The public face of this layer is :mod:`tvcompat.downloads`.
"""
