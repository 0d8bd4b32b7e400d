"""Screens and modals pushed over the dashboard."""
