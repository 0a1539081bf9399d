package alert

// RaiseAlert: a resident calls for help. The API runs it synchronously (the
// 202 means the alert is stored), so it has no topic.
type RaiseAlert struct {
	AlertID   string    `json:"alertId"`
	ComplexID string    `json:"complexId"`
	House     string    `json:"house"`
	Text      string    `json:"text"`
	Location  *Location `json:"location,omitempty"`
}

func (RaiseAlert) WireName() string { return "alert.raise.v1" }

// AcceptAlert: a resident takes the alert on. The Redis claim answered the
// acceptor first; the alert's stream decides.
type AcceptAlert struct {
	AlertID   string `json:"alertId"`
	ComplexID string `json:"complexId"`
	House     string `json:"house"`
}

func (AcceptAlert) WireName() string { return "alert.accept.v1" }

// PartitionKey keeps one complex's commands in order.
func (c AcceptAlert) PartitionKey() string { return "complex/" + c.ComplexID }

// CancelAlert: the raiser calls the alert off.
type CancelAlert struct {
	AlertID   string `json:"alertId"`
	ComplexID string `json:"complexId"`
	House     string `json:"house"`
}

func (CancelAlert) WireName() string { return "alert.cancel.v1" }

// PartitionKey keeps one complex's commands in order.
func (c CancelAlert) PartitionKey() string { return "complex/" + c.ComplexID }
