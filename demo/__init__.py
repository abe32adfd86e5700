"""The demo: both emulators with realistic Ukrainian data and a portal configured against them,
so that a newcomer sees orders flow into BAS within a minute of the run command."""
