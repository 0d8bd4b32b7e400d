"""The dashboard's widgets; each works on its own and talks upwards through messages."""
