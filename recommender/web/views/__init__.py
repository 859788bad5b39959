"""Views of the reviewer web UI, one module per area. Each view: check access, parse input,
call one selector or service, render or redirect."""
