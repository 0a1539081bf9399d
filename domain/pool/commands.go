package pool

// OpenTemplate makes a template available, with its assets. The API runs it
// synchronously (201) once it checked every asset exists.
type OpenTemplate struct {
	TemplateID string   `json:"templateId"`
	Name       string   `json:"name"`
	Assets     []string `json:"assets"`
}

func (OpenTemplate) WireName() string { return "pool.open_template.v1" }

// RefillPool asks for ready copies until the template's pool holds its
// target. At most one is in flight per template.
type RefillPool struct {
	TemplateID string `json:"templateId"`
}

func (RefillPool) WireName() string { return "pool.refill.v1" }

// PartitionKey keeps one template's refills in order.
func (c RefillPool) PartitionKey() string { return templateKey(c.TemplateID) }
