"""Configuration: YAML files → validated, typed desired state."""
