# expect: error line=3 name 'i' is not defined
x = [i for i in range(3)]
y = i
