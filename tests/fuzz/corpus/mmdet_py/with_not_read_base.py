# expect: error line=2 only `with read_base\(\):`
with open('PWNED', 'w'):
    pass
