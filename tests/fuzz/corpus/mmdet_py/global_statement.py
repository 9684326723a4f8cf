# expect: error line=2 global is not allowed
global model
model = 1
