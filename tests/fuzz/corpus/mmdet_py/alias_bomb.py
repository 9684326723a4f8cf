# expect: error line=12 more than 1,000,000 values
a = [1]
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
a = [a] * 10
b = a == [a]
