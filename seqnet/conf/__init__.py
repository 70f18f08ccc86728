"""Configuration objects of seqnet: layers, updaters, preprocessors, the network configuration."""
