"""Notifications: render transitions into messages people can act on, and deliver them."""
