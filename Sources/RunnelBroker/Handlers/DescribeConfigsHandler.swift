import RunnelProtocol

/// The resource types of the config APIs.
enum ConfigResourceType {
    static let topic: Int8 = 2
    static let broker: Int8 = 4
    static let group: Int8 = 32
}

/// DescribeConfigs (32), versions 1-4: a topic's or a consumer group's effective configs
/// (override or broker default, with the broker synonym), or this broker's static settings.
struct DescribeConfigsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 1...4
    let context: HandlerContext
    typealias Entry = DescribeConfigsResponse.DescribeConfigsResourceResult

    func handle(_ request: DescribeConfigsRequest, context requestContext: RequestContext) async -> HandlerReply<DescribeConfigsResponse> {
        let results = request.resources.map { resource in
            var result = DescribeConfigsResponse.DescribeConfigsResult(resourceType: resource.resourceType, resourceName: resource.resourceName)
            var entries: [Entry]
            switch resource.resourceType {
            case ConfigResourceType.topic:
                guard let topic = context.metadata.topic(named: resource.resourceName) else {
                    result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "topic '\(resource.resourceName)' does not exist"
                    return result
                }
                entries = context.schema.effective(topic.configs).map { item in
                    entry(
                        item.entry.name, item.value, isOverride: item.isOverride, overrideSource: ConfigSource.dynamicTopic,
                        type: item.entry.type, documentation: item.entry.documentation,
                        brokerDefault: item.entry.brokerSynonym.map { ($0, item.entry.defaultValue(context.config)) },
                        includeSynonyms: request.includeSynonyms)
                }
            case ConfigResourceType.group:
                // Any group id, formed or not: Kafka describes the defaults for a group without overrides.
                let configs = context.groups.configs
                entries = configs.schema.effective(configs.overrides(of: resource.resourceName)).map { item in
                    entry(
                        item.entry.name, item.value, isOverride: item.isOverride, overrideSource: ConfigSource.group, type: .int,
                        documentation: item.entry.documentation,
                        brokerDefault: (item.entry.brokerSynonym, String(item.entry.defaultValue(context.config))),
                        includeSynonyms: request.includeSynonyms)
                }
            case ConfigResourceType.broker:
                entries = brokerSettings.map { name, value in
                    Entry(name: name, value: value, readOnly: true, configSource: ConfigSource.staticBroker, isSensitive: false, configType: 2)
                }
            default:
                result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                result.errorMessage = "unsupported resource type \(resource.resourceType)"
                return result
            }
            if let keys = resource.configurationKeys { entries = entries.filter { keys.contains($0.name) } }
            if !request.includeDocumentation { entries = entries.map { var entry = $0; entry.documentation = nil; return entry } }
            result.configs = entries
            return result
        }
        return .response(DescribeConfigsResponse(results: results))
    }

    /// One effective config: the resource's own value (from `overrideSource`) or the broker's
    /// default, with its synonyms (the override, then the broker setting) when asked for.
    private func entry(
        _ name: String, _ value: String, isOverride: Bool, overrideSource: Int8, type: TopicConfigSchema.ValueType,
        documentation: String, brokerDefault: (name: String, value: String)?, includeSynonyms: Bool
    ) -> Entry {
        var entry = Entry(
            name: name, value: value, readOnly: false, configSource: isOverride ? overrideSource : ConfigSource.defaultConfig,
            isSensitive: false, configType: type.rawValue, documentation: documentation)
        if includeSynonyms {
            if isOverride { entry.synonyms.append(.init(name: name, value: value, source: overrideSource)) }
            if let brokerDefault {
                entry.synonyms.append(.init(name: brokerDefault.name, value: brokerDefault.value, source: ConfigSource.defaultConfig))
            }
        }
        return entry
    }

    private var brokerSettings: [(String, String)] {
        let config = context.config
        // Clients read broker.rack here (librdkafka's fetch-from-follower checks, rack-aware tools).
        let rack = config.brokerRack.map { [("broker.rack", $0)] } ?? []
        return rack + [
            ("node.id", String(config.nodeId)), ("log.dirs", config.logDirs.joined(separator: ",")),
            ("num.partitions", String(config.numPartitions)), ("default.replication.factor", String(config.defaultReplicationFactor)),
            ("auto.create.topics.enable", String(config.autoCreateTopics)), ("message.max.bytes", String(config.messageMaxBytes)),
            ("log.retention.ms", String(config.logRetentionMs)), ("log.retention.bytes", String(config.logRetentionBytes)),
            ("log.segment.bytes", String(config.logSegmentBytes)), ("socket.request.max.bytes", String(config.socketRequestMaxBytes)),
            ("compression.type", config.compressionType), ("min.insync.replicas", String(config.minInsyncReplicas)),
        ]
    }
}
