# expect: error line=2 while loop
while True:
    pass
