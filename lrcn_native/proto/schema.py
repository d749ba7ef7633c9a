"""Field checks for prototxt messages (filled in by the schema work; see validate_net)."""


def validate_net(netp):
    return netp
