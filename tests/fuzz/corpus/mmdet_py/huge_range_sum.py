# expect: error line=2 over a range
x = sum(range(10 ** 15))
