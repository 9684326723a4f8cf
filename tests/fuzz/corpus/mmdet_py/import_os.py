# expect: error line=3 importing the module 'os'
model = dict()
import os
os.system('touch PWNED')
