# expect: error line=2 the name '__import__'
root = {{$VISDET_FUZZ_INJECTED:x}}
