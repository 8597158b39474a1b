import SocaiCore
