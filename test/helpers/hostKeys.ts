/** A public SSH host key for configurations that are rendered but never connected to. */
export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICYPLraOGGKiRz6ZagnIhroIz/5Mr3wxeCrOeMmYNBVR";
