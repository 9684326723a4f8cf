"""Necks: multi-scale backbone features -> multi-scale features for the heads."""

from visdet.models.necks.channel_mapper import ChannelMapper
from visdet.models.necks.cspnext_pafpn import CSPNeXtPAFPN
from visdet.models.necks.fpn import FPN

__all__ = ["CSPNeXtPAFPN", "ChannelMapper", "FPN"]
