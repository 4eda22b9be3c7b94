import pickle

from asgiref.local import Local

try:

    class MyLocal(Local):
        pass

    MyLocal()
except TypeError as error:
    print("TypeError:", error)

try:
    pickle.dumps(Local())
except TypeError as error:
    print("TypeError:", error)
