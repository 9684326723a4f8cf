"""Neural-network modules: backbones, necks, heads and the small layers they share.

Subpackages are imported explicitly (``from visdet.models.backbones import ResNet``);
nothing is registered here by import side effects.
"""
