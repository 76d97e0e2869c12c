import Foundation

/// What etcd's JSON gateway (grpc-gateway in front of etcd's gRPC API) sends and expects:
/// proto field names, bytes as standard base64, int64 as JSON strings, and fields left out when
/// they hold their default value (a failed transaction has no `succeeded`, a PUT event no
/// `type`). These helpers read and write that dialect; nothing else in the client touches JSON.
enum EtcdJSON {
    typealias Object = [String: Any]

    static func bytes(_ string: String) -> String { Data(string.utf8).base64EncodedString() }
    static func bytes(_ value: [UInt8]) -> String { Data(value).base64EncodedString() }

    /// The end of the range of keys that start with `prefix` (etcd's `range_end`): the prefix
    /// with its last byte that is not 0xff incremented, and what follows it dropped.
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var end = Array(prefix.utf8)
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]  // every key (etcd's "\0" range end)
    }

    static func encode(_ object: Object) throws(EtcdError) -> Data {
        do {
            return try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw EtcdError(.invalidResponse, "cannot encode a request: \(error)")
        }
    }

    static func decode(_ data: Data) throws(EtcdError) -> Object {
        guard let object = try? JSONSerialization.jsonObject(with: data), let dictionary = object as? Object else {
            throw EtcdError(.invalidResponse, "not a JSON object: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return dictionary
    }

    /// An int64 field: a JSON string (the gateway's encoding), a number, or absent (0).
    static func int64(_ value: Any?) -> Int64 {
        switch value {
        case let string as String: Int64(string) ?? 0
        case let number as NSNumber: number.int64Value
        default: 0
        }
    }

    static func decodedBytes(_ value: Any?) -> [UInt8] {
        guard let string = value as? String, let data = Data(base64Encoded: string) else { return [] }
        return Array(data)
    }

    /// The revision of the store when the answer was made.
    static func revision(_ response: Object) -> Int64 {
        int64((response["header"] as? Object)?["revision"])
    }

    static func keyValue(_ object: Object) -> EtcdKeyValue {
        EtcdKeyValue(
            key: String(decoding: decodedBytes(object["key"]), as: UTF8.self),
            value: decodedBytes(object["value"]),
            createRevision: int64(object["create_revision"]),
            modRevision: int64(object["mod_revision"]),
            version: int64(object["version"]),
            lease: int64(object["lease"]))
    }

    static func keyValues(_ response: Object) -> [EtcdKeyValue] {
        (response["kvs"] as? [Object] ?? []).map(keyValue)
    }

    /// An `{"error": ..., "code": N, "message": ...}` answer, if this is one.
    static func error(_ response: Object) -> EtcdError? {
        guard let message = (response["message"] as? String) ?? (response["error"] as? String) else { return nil }
        return EtcdError(.server(code: Int(int64(response["code"]))), message)
    }
}
