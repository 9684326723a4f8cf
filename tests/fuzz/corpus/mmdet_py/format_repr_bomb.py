# expect: error line=4 more than 1,000,000 values
a = [1]
a = [a, a, a, a, a, a, a, a, a, a] * 10 + [a] * 10 ** 4
b = '{0!r}'.format([a] * 100)
