"""Agents: specs, models (including the offline model), memory policy, context assembly."""
