"""The Pause/Approval gate: approval store, resume API, CLI helpers, web page."""


def build_routes(flows_dirs=None):
    return []
