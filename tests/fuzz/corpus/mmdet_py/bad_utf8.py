# expect: error not UTF-8
x = 'café'
