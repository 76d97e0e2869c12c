import Foundation
import RunnelCluster
import RunnelProtocol

/// AlterConfigs (33), versions 0-2: replaces a topic's or a group's whole set of overrides.
struct AlterConfigsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: AlterConfigsRequest, context requestContext: RequestContext) async -> HandlerReply<AlterConfigsResponse> {
        var responses: [AlterConfigsResponse.AlterConfigsResourceResponse] = []
        for resource in request.resources {
            var response = AlterConfigsResponse.AlterConfigsResourceResponse(resourceType: resource.resourceType, resourceName: resource.resourceName)
            let overrides = Dictionary(resource.configs.compactMap { config in config.value.map { (config.name, $0) } }, uniquingKeysWith: { $1 })
            (response.errorCode, response.errorMessage) = await ConfigChange.apply(
                overrides, to: resource.resourceType, name: resource.resourceName, validateOnly: request.validateOnly, context: context,
                request: requestContext)
            responses.append(response)
        }
        return .response(AlterConfigsResponse(responses: responses))
    }
}

/// IncrementalAlterConfigs (44), versions 0-1: SET, DELETE, APPEND and SUBTRACT on single keys.
struct IncrementalAlterConfigsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...1
    let context: HandlerContext

    func handle(_ request: IncrementalAlterConfigsRequest, context requestContext: RequestContext)
        async -> HandlerReply<IncrementalAlterConfigsResponse>
    {
        var responses: [IncrementalAlterConfigsResponse.AlterConfigsResourceResponse] = []
        for resource in request.resources {
            var response = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                resourceType: resource.resourceType, resourceName: resource.resourceName)
            var overrides: [String: String]
            let kind: (String) -> ConfigKind
            if resource.resourceType == ConfigResourceType.group {
                overrides = context.groups.configs.overrides(of: resource.resourceName)
                // A group's configs are all numbers.
                kind = { context.groups.configs.schema.entry(named: $0) == nil ? .unknown : .scalar }
            } else {
                overrides = context.metadata.topic(named: resource.resourceName)?.configs ?? [:]
                kind = { name in
                    guard let entry = context.schema.entry(named: name) else { return .unknown }
                    return entry.type == .list ? .list(default: entry.defaultValue(context.schema.broker)) : .scalar
                }
            }
            for config in resource.configs {
                // APPEND and SUBTRACT work on a list's effective value, its default included
                // (Kafka's ConfigAdminManager), and only on lists.
                let configKind = kind(config.name)
                if config.configOperation == 2 || config.configOperation == 3, case .scalar = configKind {
                    response.errorCode = KafkaErrorCode.invalidConfig.rawValue
                    response.errorMessage = "\(config.name) is not a list: APPEND and SUBTRACT apply to list configs only"
                    break
                }
                let listDefault = if case .list(let value) = configKind { value } else { "" }
                let effective = overrides[config.name] ?? listDefault
                let current = effective.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let items = config.value.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
                switch config.configOperation {
                case 0: overrides[config.name] = config.value  // SET
                case 1: overrides[config.name] = nil  // DELETE: back to the default
                case 2: overrides[config.name] = (current + items.filter { !current.contains($0) }).joined(separator: ",")  // APPEND
                case 3: overrides[config.name] = current.filter { !items.contains($0) }.joined(separator: ",")  // SUBTRACT
                default:
                    response.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    response.errorMessage = "unknown config operation \(config.configOperation)"
                }
            }
            if response.errorCode == 0 {
                (response.errorCode, response.errorMessage) = await ConfigChange.apply(
                    overrides, to: resource.resourceType, name: resource.resourceName, validateOnly: request.validateOnly, context: context,
                    request: requestContext)
            }
            responses.append(response)
        }
        return .response(IncrementalAlterConfigsResponse(responses: responses))
    }
}

/// What IncrementalAlterConfigs needs to know of a key: a list (and its default), any other
/// known config, or one the resource does not have (refused when the set is validated).
private enum ConfigKind {
    case list(default: String)
    case scalar
    case unknown
}

/// The shared end of both config APIs: validate and store a topic's or a group's new overrides.
enum ConfigChange {
    static func apply(
        _ overrides: [String: String], to resourceType: Int8, name: String, validateOnly: Bool, context: HandlerContext,
        request: RequestContext
    ) async -> (Int16, String?) {
        do {
            switch resourceType {
            case ConfigResourceType.topic:
                try await context.topics.setConfigs(topic: name, to: overrides, validateOnly: validateOnly)
            case ConfigResourceType.group:
                try await context.groups.configs.set(group: name, to: overrides, validateOnly: validateOnly)
            case ConfigResourceType.broker:
                // Kafka's dynamic broker configs (KIP-226) are not built: every broker setting is static.
                return (KafkaErrorCode.invalidRequest.rawValue, "broker settings are static in Runnel: change server.properties or --override and restart")
            default:
                return (KafkaErrorCode.invalidRequest.rawValue, "unsupported config resource type \(resourceType)")
            }
            if !validateOnly {
                let kind = resourceType == ConfigResourceType.topic ? "topic" : "group"
                let listed = overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                context.logAdminChange("set the configs of \(kind) \(name) to {\(listed)}", by: request)
            }
            return (0, nil)
        } catch {
            let (code, message) = kafkaError(for: error)
            return (code, message)
        }
    }
}
