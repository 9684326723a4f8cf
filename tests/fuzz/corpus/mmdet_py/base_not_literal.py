# expect: error line=2 must be a literal
_base_ = ['a' + '.py']
