/**
 * Where alert delivery keeps secrets, for the key rotation: a webhook's signing secret in its
 * channel row (`sealedSecret`, associated data `alert-channel:<id>`), the SMTP password in the
 * `alerts.smtp` setting (`sealedPassword`, associated data `alert-smtp`).
 */

/** Associated data of a channel's sealed secret: a value copied to another channel does not decrypt. */
export function channelSecretAad(id: number): string {
  return `alert-channel:${id}`;
}

export const SMTP_PASSWORD_AAD = 'alert-smtp';
export const SMTP_SETTING = 'alerts.smtp';
