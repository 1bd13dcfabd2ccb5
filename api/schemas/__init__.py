"""Request and response models: ``<Resource>Create`` / ``Update`` / ``Public`` per resource."""
