"""Run alerts: the query runner, and (later) state, history and the decision."""
