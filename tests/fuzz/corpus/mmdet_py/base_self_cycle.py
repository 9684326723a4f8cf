# expect: error cycle
_base_ = './base_self_cycle.py'
