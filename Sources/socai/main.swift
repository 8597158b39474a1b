print("socai")
