"""The drill plan, the trigger conf and the settings, and which backup a drill chooses."""
