"""The reviewer web UI: server-rendered pages."""
