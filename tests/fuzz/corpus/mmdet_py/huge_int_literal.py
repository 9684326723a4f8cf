# expect: error line=2 more than 65536 bits|Exceeds the limit|larger than
x = 2 ** 100000
