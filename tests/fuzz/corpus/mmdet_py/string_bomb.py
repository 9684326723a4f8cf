# expect: error line=3 more than 100,000 items
x = 'ab' * 40000
x = x + x
