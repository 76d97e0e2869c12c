// The connection layer lives in RunnelWire (the broker's follower fetchers use it too); the
// client's users see it as part of RunnelClient, as before.
@_exported import RunnelWire
