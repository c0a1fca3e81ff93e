"""A page for the Debug Toolbar tests: a view that saves models and sends Blinker signals."""
