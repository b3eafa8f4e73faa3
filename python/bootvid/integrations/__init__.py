"""Adapters to other libraries' conventions; each imports its library only when used
(``from bootvid.integrations.diffusers import AutoencoderBootvid``)."""
