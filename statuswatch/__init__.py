"""statuswatch: watch Apple's system-status feed and say when a service changes state."""

__version__ = "0.1.0"
