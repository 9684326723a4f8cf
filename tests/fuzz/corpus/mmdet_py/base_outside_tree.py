# expect: error not found|not a Python config
_base_ = '../../../../../../../../etc/passwd'
