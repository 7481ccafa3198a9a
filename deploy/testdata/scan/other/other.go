package other

import "github.com/opsbot/opsbot/bot"

type cache struct{}

// PostMessage here is not slack-go's: this package does not import it.
func (cache) PostMessage() {}

func use(c cache) { c.PostMessage() }

var family = &bot.Family{Name: "/incident"}
