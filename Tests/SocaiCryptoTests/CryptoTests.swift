import Testing

@testable import SocaiCrypto

@Suite struct SHA256Tests {
    // FIPS 180-2 appendix B examples.
    @Test func matchesTheStandardExamples() {
        #expect(Hex.encode(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(Hex.encode(SHA256.hash(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func incrementalHashingEqualsOneShot() {
        let parts: [[UInt8]] = [Array("ab".utf8), [], Array("c".utf8)]
        #expect(SHA256.hash(parts: parts) == SHA256.hash(Array("abc".utf8)))
    }

    // FIPS 180-2 appendix B.3: one million "a", fed in uneven pieces that straddle blocks.
    @Test func matchesTheMillionByteExample() {
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 999)
        var hasher = SHA256.Hasher()
        var fed = 0
        while fed < 1_000_000 {
            let count = min(piece.count - fed % 7, 1_000_000 - fed)
            hasher.update(Array(piece[..<count]))
            fed += count
        }
        #expect(Hex.encode(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// libcrypto's digests against libsodium's, two implementations written apart: every
    /// length from 0 to 300 bytes (each padding case: 55, 56, 63, 64 and 119 bytes among
    /// them) with bytes from a fixed generator, one-shot and split at every third byte.
    @Test func agreesWithLibsodiumAtEveryPaddingBoundary() {
        var state: UInt64 = 0x5EED_0F5A_C0FF_EE00
        func nextByte() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for length in 0...300 {
            let input = (0..<length).map { _ in nextByte() }
            let expected = SHA256.referenceDigest(input)
            #expect(SHA256.hash(input) == expected, "length \(length)")
            var hasher = SHA256.Hasher()
            for start in stride(from: 0, to: length, by: 3) { hasher.update(Array(input[start..<min(start + 3, length)])) }
            #expect(hasher.finalize() == expected, "length \(length), fed in threes")
        }
    }
}

@Suite struct Ed25519Tests {
    // RFC 8032 §7.1, TEST 1 and TEST 2.
    @Test func matchesRFC8032() throws {
        let key1 = try SigningKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(Hex.encode(key1.publicKey) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(
            Hex.encode(key1.signature(for: []))
                == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        let key2 = try SigningKey(seed: Hex.decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
        #expect(Hex.encode(key2.publicKey) == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        #expect(
            Hex.encode(key2.signature(for: [0x72]))
                == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        )
    }

    @Test func rejectsAnyFlippedBit() throws {
        let key = SigningKey()
        let message = Array("consent granted".utf8)
        let signature = key.signature(for: message)
        #expect(Ed25519.isValidSignature(signature, of: message, publicKey: key.publicKey))
        for bit in [0, 7, 100, 511] {
            var forged = signature
            forged[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(!Ed25519.isValidSignature(forged, of: message, publicKey: key.publicKey))
        }
        var altered = message
        altered[0] ^= 1
        #expect(!Ed25519.isValidSignature(signature, of: altered, publicKey: key.publicKey))
        var otherKey = key.publicKey
        otherKey[31] ^= 0x40
        #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: otherKey))
        // Wrong lengths are simply invalid, never a crash.
        #expect(!Ed25519.isValidSignature(Array(signature.dropLast()), of: message, publicKey: key.publicKey))
        #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: Array(key.publicKey.dropLast())))
    }

    @Test func rejectsSeedsOfTheWrongLength() {
        #expect(throws: CryptoError.self) { _ = try SigningKey(seed: [UInt8](repeating: 1, count: 31)) }
    }

    @Test func randomKeysDiffer() {
        #expect(SigningKey().publicKey != SigningKey().publicKey)
        #expect(SecureRandom.bytes(count: 32) != SecureRandom.bytes(count: 32))
    }
}

@Suite struct PassphraseCipherTests {
    let salt = [UInt8](repeating: 3, count: PassphraseCipher.saltBytes)
    let nonce = [UInt8](repeating: 4, count: PassphraseCipher.nonceBytes)

    @Test func sealsAndOpens() throws {
        let key = try PassphraseCipher.deriveKey(passphrase: Array("passphrase".utf8), salt: salt, parameters: .interactive)
        #expect(key.count == 32)
        let sealed = try PassphraseCipher.seal(Array("secret".utf8), key: key, nonce: nonce, associatedData: [1, 2])
        #expect(sealed.count == 6 + PassphraseCipher.tagBytes)
        #expect(try PassphraseCipher.open(sealed, key: key, nonce: nonce, associatedData: [1, 2]) == Array("secret".utf8))
        // Associated data, ciphertext and key are all authenticated.
        #expect(throws: CryptoError(.authenticationFailed, "decryption failed: wrong passphrase or altered data")) {
            _ = try PassphraseCipher.open(sealed, key: key, nonce: nonce, associatedData: [1, 3])
        }
        var altered = sealed
        altered[0] ^= 1
        #expect(throws: CryptoError.self) {
            _ = try PassphraseCipher.open(altered, key: key, nonce: nonce, associatedData: [1, 2])
        }
        let otherKey = try PassphraseCipher.deriveKey(passphrase: Array("passphrasf".utf8), salt: salt, parameters: .interactive)
        #expect(otherKey != key)
        #expect(throws: CryptoError.self) {
            _ = try PassphraseCipher.open(sealed, key: otherKey, nonce: nonce, associatedData: [1, 2])
        }
    }

    @Test func refusesCostsOutsideTheAcceptedRange() {
        let tooCheap = Argon2idParameters(operations: 1, memoryBytes: 8 * 1024)
        let tooCostly = Argon2idParameters(operations: 3, memoryBytes: 1 << 40)
        for parameters in [tooCheap, tooCostly] {
            #expect(throws: CryptoError.self) { try parameters.validate() }
        }
        #expect(throws: CryptoError.self) {
            _ = try PassphraseCipher.deriveKey(passphrase: [], salt: [1], parameters: .interactive)
        }
    }
}

@Suite struct HexTests {
    @Test func roundTripsAndRejectsOtherSpellings() throws {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(try Hex.decode("00abff") == [0x00, 0xab, 0xff])
        #expect(throws: CryptoError.self) { _ = try Hex.decode("00ABFF") }
        #expect(throws: CryptoError.self) { _ = try Hex.decode("abc") }
        #expect(throws: CryptoError.self) { _ = try Hex.decode("zz") }
        #expect(throws: CryptoError.self) { _ = try Hex.decode("00", count: 2) }
    }

    @Test func constantTimeEqualityCompares() {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2], [1, 2, 3]))
    }
}
