# expect: ok
x = 1
