"""The feature families of DESIGN.md, each a module with a ``family(cfg)`` that returns its definitions."""
